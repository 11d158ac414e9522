"""The guides' rendering (web/guides.py), without a server: GitHub's anchors, bare URLs made
links (tables too), and every relative link resolved against the file's place in the
repository: a served page inside the stand, anything else shown as its repository path."""

from __future__ import annotations

from qakit_trio.web import guides
from qakit_trio.web.guides import render_guide


def test_anchors_are_github_s_and_a_repeated_heading_gets_a_number() -> None:
    html = render_guide(
        "README.md",
        "# qakit-trio\n## Profiles: `qakit` and `qa_kit`\n"
        "## Metrics: `GET /metrics`\n## Заказы и REST\n## A & B\n## A & B\n",
        "en",
    )
    for anchor in (
        "qakit-trio",
        "profiles-qakit-and-qa_kit",
        "metrics-get-metrics",
        "заказы-и-rest",
        "a--b",
        "a--b-1",
    ):
        assert f'id="{anchor}"' in html, anchor


def test_relative_links_lead_to_the_served_pages_with_their_anchors() -> None:
    readme = render_guide(
        "README.md",
        "[a](docs/settings.md#x) [b](docs/guide/README.md) "
        "[c](docs/guide/) [d](#run-it) [e](postman/)",
        "en",
    )
    assert 'href="/guides/settings.md#x"' in readme
    assert readme.count('href="/guides/guide/README.md"') == 2
    assert 'href="#run-it"' in readme
    assert 'href="/postman/"' in readme
    exercises = render_guide(
        "guide/ru/exercises.md",
        "[kit](../../testing.md#the-fixture) [ru](start.md) [top](../../../README.md#install)",
        "ru",
    )
    assert 'href="/guides/testing.md#the-fixture"' in exercises
    assert 'href="/guides/guide/ru/start.md"' in exercises
    assert 'href="/guides/README.md#install"' in exercises
    docs = render_guide("protocol.md", "[lab](lab.md) [readme](../README.md)", "en")
    assert 'href="/guides/lab.md"' in docs
    assert 'href="/guides/README.md"' in docs


def test_what_the_stand_does_not_serve_is_its_repository_path_not_a_link() -> None:
    html = render_guide(
        "README.md",
        "[qakit_trio/log_fields.py](qakit_trio/log_fields.py), "
        "[`examples/`](examples/), [examples](examples/test_with_the_kit.py), "
        "[the key](docs/lab-answer-key.md)",
        "en",
    )
    assert "<a " not in html
    assert "<code>qakit_trio/log_fields.py</code>," in html
    assert "<code>examples/</code>," in html
    assert "examples (in the repository: <code>examples/test_with_the_kit.py</code>)" in html
    assert "the key (for teachers, in the repository: <code>docs/lab-answer-key.md</code>)" in html
    russian = render_guide("guide/ru/start.md", "[код](../../../qakit_trio/app.py)", "ru")
    assert "код (в репозитории: <code>qakit_trio/app.py</code>)" in russian


def test_bare_urls_become_links_and_the_stand_s_own_become_relative() -> None:
    html = render_guide(
        "full-stand.md",
        "| URL | what |\n|---|---|\n"
        "| http://localhost:8080 | Kafka UI |\n"
        "| http://127.0.0.1:8002/playground. | the playground |\n\n"
        "See https://example.org/a_b_c, and `http://localhost:9090` in code; "
        "[a link](https://example.org/x).",
        "en",
    )
    assert '<td><a href="http://localhost:8080">http://localhost:8080</a></td>' in html
    assert '<a href="/playground">http://127.0.0.1:8002/playground</a>.' in html
    assert '<a href="https://example.org/a_b_c">https://example.org/a_b_c</a>,' in html
    assert "<code>http://localhost:9090</code>" in html
    assert '<a href="https://example.org/x">a link</a>' in html


def test_every_served_guide_has_its_repository_path() -> None:
    assert guides.repo_path("README.md") == "README.md"
    assert guides.repo_path("guide/en/start.md") == "docs/guide/en/start.md"
    assert guides.SERVED["docs/settings.md"] == "settings.md"
    assert "docs/lab-answer-key.md" not in guides.SERVED
