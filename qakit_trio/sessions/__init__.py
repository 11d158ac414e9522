"""The doors: what messages mean in each protocol (envelope, qa_kit, legacy), the actions,
and the order of the request pipeline's stages (pipeline.py).
"""
