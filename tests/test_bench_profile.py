"""bench/profile.py's sorting of py-spy's samples into parts (a pure function: no py-spy here;
the tool itself needs ptrace rights a CI machine may not give, so it is run by hand)."""

from __future__ import annotations

from .support import bench_scripts

PROFILE = bench_scripts.load("profile")

RUN = "main (qakit_trio/cli.py:97);run (trio/_core/_run.py:2532)"
SAMPLES = f"""\
{RUN};Connection._log_out (qakit_trio/ws/connection.py:351);info (qakit_trio/logs.py:233) 7
{RUN};Connection._read_loop (qakit_trio/ws/connection.py:192) 2
{RUN};Connection._write_loop (qakit_trio/ws/connection.py:378);QakitTCPServer.write_nowait \
(qakit_trio/transport/tcp_server.py:63) 5
{RUN};HypercornTransport.receive (qakit_trio/transport/asgi.py:167);MemoryReceiveChannel.\
receive (trio/_channel.py:382) 3
{RUN};QakitWSStream.handle (qakit_trio/transport/hyper_ext.py:170);next_message \
(qakit_trio/wire/fast_frames.py:60) 4
{RUN};H11Protocol.handle (hypercorn/protocol/h11.py:113);FrameProtocol._parse_more_gen \
(wsproto/frame_protocol.py:420) 6
unrolled_run (trio/_core/_run.py:2866) 1
"""


def test_each_sample_goes_to_the_part_of_its_innermost_known_frame() -> None:
    assert PROFILE.breakdown(SAMPLES) == {
        "logging (JSON lines)": 7,  # under our logging code, whatever is innermost
        "ours: connection, outbox, hub": 2,
        "transport: writes (os.write)": 5,
        "trio: channels": 3,  # not "ours: transport": the innermost known frame wins
        "ours: frames (wire/: JSON, ids, times)": 4,
        "wsproto: frames": 6,
        "trio: scheduler, tasks, cancel scopes": 1,
    }


def test_qakit_trio_paths_are_not_taken_for_trio() -> None:
    # "qakit_trio/" contains "trio/": trio's parts match "(trio/" only
    assert PROFILE.part_of("f (qakit_trio/ws/hub.py") == "ours: connection, outbox, hub"
    assert PROFILE.part_of("g (trio/_core/_run.py") == "trio: scheduler, tasks, cancel scopes"
