"""Generate a deterministic site of N realistic stories in the content format, for benchmarks.

Each story has 4-6 sources, 8-12 facts, quotes, open questions and a narrative of about 1200 words
whose every paragraph cites. The same N and seed always give the same bytes.

    python benchmarks/generate.py OUT_DIR --stories 1000 [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil

WORDS = (
    "launch pad cabin crew station agency report statement repair damage schedule cargo orbit rocket engineers "
    "officials analysis budget contract delay inspection program mission timeline partner sanctions cooperation "
    "weather tower fuel stage capsule docking module research science ministry government satellite network "
    "spokesperson outlet correspondent investigation evidence document record decision vote committee hearing"
).split()
TOPICS = [f"topic-{i}" for i in range(20)]
PUBLISHERS = [f"outlet-{i}" for i in range(30)]
KINDS = ("news", "wire", "agency", "official", "other")


def sentence(rng: random.Random, n: int) -> str:
    """A sentence of n words."""
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def story(rng: random.Random, index: int) -> tuple[str, str]:
    """The facts.yaml and explainer.md of one story."""
    published = dt.date(2024, 1, 1) + dt.timedelta(days=index % 700)
    keys = [f"source-{k}" for k in range(rng.randint(4, 6))]
    lines = [
        f'headline: "Story {index}: {sentence(rng, 8)[:-1]}"',
        f'summary: "{sentence(rng, 25)}"',
        f"published: {published.isoformat()}",
        f"topics: [{', '.join(sorted(rng.sample(TOPICS, 2)))}]",
        "sources:",
    ]
    for k in keys:
        lines += [
            f"  {k}:",
            f"    publisher: {rng.choice(PUBLISHERS)}",
            f'    title: "{sentence(rng, 7)[:-1]}"',
            f"    url: https://news.example.com/{index}/{k}",
            f'    author: "Author {rng.randint(1, 500)}"',
            f"    published: {published.isoformat()}",
        ]
    facts = [f"fact-{f}" for f in range(rng.randint(8, 12))]
    lines.append("facts:")
    for f in facts:
        lines += [
            f"  - id: {f}",
            f'    text: "{sentence(rng, 14)}"',
            f"    sources: [{', '.join(rng.sample(keys, 2))}]",
            f"    status: {rng.choice(('confirmed', 'reported', 'reported', 'unverified'))}",
        ]
        if rng.random() < 0.4:
            lines.append(f"    date: {(published - dt.timedelta(days=rng.randint(0, 5))).isoformat()}")
    lines.append(f"takeaways: [{', '.join(facts[:3])}]")
    lines.append("quotes:")
    for _ in range(2):
        lines += [f'  - text: "{sentence(rng, 12)}"', f'    speaker: "Speaker {rng.randint(1, 90)}"', f"    source: {rng.choice(keys)}"]
    lines.append("unknowns:")
    for _ in range(3):
        lines += [f'  - text: "{sentence(rng, 10)[:-1]}?"', f"    sources: [{rng.choice(keys)}]"]
    facts_yaml = "\n".join(lines) + "\n"
    # Keys and facts are all cited: every source appears in the narrative or a fact.
    parts = []
    for _section in range(5):
        parts.append(f"## {sentence(rng, 4)[:-1]}\n")
        for _ in range(3):
            body = " ".join(sentence(rng, rng.randint(14, 22)) for _ in range(4))
            cite = f"[@{rng.choice(keys)}; @{rng.choice(keys)}]" if rng.random() < 0.6 else f"[#{rng.choice(facts)}]"
            parts.append(f"{body[:-1]} {cite}.\n")
    parts.append("## Why this matters\n")
    parts.append(" ".join(sentence(rng, 15) for _ in range(5)) + "\n")
    return facts_yaml, "\n".join(parts)


def generate(out: str, stories: int, seed: int = 7) -> None:
    """Write a complete content/ folder with N stories into OUT/content (replacing it)."""
    rng = random.Random(seed)
    content = os.path.join(out, "content")
    shutil.rmtree(content, ignore_errors=True)
    os.makedirs(os.path.join(content, "stories"))
    with open(os.path.join(content, "site.yaml"), "w", encoding="utf-8") as f:
        f.write('title: Benchmark explainers\ndescription: "A generated site."\nbase_url: https://bench.example.org\n'
                "publisher:\n  name: Bench Desk\n  url: https://bench.example.org/\n")
    with open(os.path.join(content, "publishers.yaml"), "w", encoding="utf-8") as f:
        for i, pid in enumerate(PUBLISHERS):
            f.write(f"{pid}:\n  name: Outlet {i}\n  url: https://outlet{i}.example.com/\n  kind: {KINDS[i % len(KINDS)]}\n")
    for i in range(stories):
        facts_yaml, narrative = story(rng, i)
        folder = os.path.join(content, "stories", f"story-{i:05d}")
        os.makedirs(folder)
        with open(os.path.join(folder, "facts.yaml"), "w", encoding="utf-8") as f:
            f.write(facts_yaml)
        with open(os.path.join(folder, "explainer.md"), "w", encoding="utf-8") as f:
            f.write(narrative)


def main() -> None:
    """Command line: generate OUT --stories N."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.out, args.stories, args.seed)


if __name__ == "__main__":
    main()
