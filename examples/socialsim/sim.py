"""Pure, seeded social-network simulation (no Hydra) so it can be tested and timed in-process.

Agents hold an opinion in [-1, 1], follow each other, post, and react to a timeline that is
either their followees' posts newest-first (``follower_chronological``) or the network's most
engaging/controversial recent posts (``pure_recsys``). Extreme, popular content draws more
reactions, so the recommender visibly raises engagement. Every random draw comes from
string-seeded ``random.Random`` streams, so a seed and config fully determine the events.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTION_LABELS = ("post", "reply", "like", "repost", "follow")
INTERACTIVE_LABELS = ("reply", "like", "repost")
TIMELINE_MODES = ("follower_chronological", "pure_recsys")
PROBE_TYPES = ("BinaryProbe", "NumericRatingProbe", "ChoiceProbe", "FreeTextProbe")

_OPENERS = ("Thinking about", "Hot take on", "Can we talk about", "Update on", "My view on")
_STANCE_PHRASES = (
    "this is a disaster",
    "I have serious doubts",
    "it could go either way",
    "things are looking up",
    "this is exactly right",
)
_VIEW_WORDS = ("strongly oppose", "oppose", "am unsure about", "support", "strongly support")
_FILLERS = ("Honestly,", "Overall,", "Right now", "To be frank,", "After this week")


def agent_id(index: int) -> str:
    """Stable user name; zero padding keeps lexical and numeric order equal."""
    return f"agent_{index:03d}"


def game_master_of(index: int, num_agents: int, num_game_masters: int) -> int:
    """Contiguous block split of agents over game masters."""
    return index * num_game_masters // max(1, num_agents)


@dataclass
class Post:
    """One original post; reactions accumulate on it."""

    index: int
    post_id: str
    author: int
    episode: int
    topic: str
    stance: float
    likes: int = 0
    replies: int = 0
    reposts: int = 0

    @property
    def engagement(self) -> int:
        return self.likes + 2 * self.replies + 3 * self.reposts


@dataclass
class Episode:
    """Events produced by one step, in emission order."""

    episode: int
    actions: list[dict[str, Any]]
    probes: list[dict[str, Any]]


@dataclass
class Result:
    """Whole-run output of :func:`simulate`."""

    actions: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    counters: dict[str, int]
    opinions: list[float] = field(default_factory=list)


def _level(opinion: float, buckets: int) -> int:
    """Map an opinion in [-1, 1] to a bucket index for word choice."""
    return min(buckets - 1, int((opinion + 1.0) / 2.0 * buckets))


def _clip(x: float) -> float:
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


class Simulation:
    """Mutable world state; :meth:`episodes` yields events step by step for streaming writers."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        sc = cfg["scenario"]
        params = cfg["env"]["gm"]["components"]["observe"]["params"]
        self.n = int(cfg["num_agents"])
        self.steps = int(cfg["num_steps"])
        self.mode = str(params["timeline_mode"])
        self.size = int(params["timeline_size"])
        self.probes = list(cfg["eval"]["probes"]["probes"])
        if self.n < 1 or self.steps < 0 or self.size < 1:
            raise ValueError("need num_agents >= 1, num_steps >= 0, timeline_size >= 1")
        if self.mode not in TIMELINE_MODES:
            raise ValueError(f"timeline_mode must be one of {TIMELINE_MODES}, got {self.mode!r}")
        for probe in self.probes:
            if probe["probe_type"] not in PROBE_TYPES:
                raise ValueError(f"unknown probe_type {probe['probe_type']!r}")
        self.topics = [str(t) for t in sc["topics"]]
        self.reaction_rate = float(sc["reaction_rate"])
        self.follow_rate = float(sc["follow_rate"])
        self.influence = float(sc["influence"])
        self.confidence = float(sc["confidence"])
        self.backfire = float(sc["backfire"])
        self.noise = float(sc["noise"])
        seed = int(cfg["seed"])
        # Separate streams: probes never perturb the dynamics, and vice versa.
        self.rng = random.Random(f"socialsim:{seed}:world")
        self.prng = random.Random(f"socialsim:{seed}:probes")
        rng = self.rng
        mean, spread = float(sc["opinion_mean"]), float(sc["opinion_spread"])
        self.opinions = [_clip(rng.gauss(mean, spread)) for _ in range(self.n)]
        base = float(sc["base_activity"])
        self.activity = [min(1.0, base * rng.uniform(0.5, 1.5)) for _ in range(self.n)]
        self.follows: list[set[int]] = [set() for _ in range(self.n)]
        self.followers: list[list[int]] = [[] for _ in range(self.n)]
        k = min(int(sc["initial_follows"]), self.n - 1)
        for a in range(self.n):
            others = [b for b in range(self.n) if b != a]
            for b in rng.sample(others, k):
                self._follow(a, b)
        self.posts: list[Post] = []
        self.feeds: list[list[tuple[int, int]]] = [[] for _ in range(self.n)]
        self.seen: list[set[int]] = [set() for _ in range(self.n)]  # react to a post only once
        self.recent: list[Post] = []
        self.event_index = 0  # shared by action and probe events: merging files by it is exact
        self.counters = {"actions_total": 0, **{lab: 0 for lab in ACTION_LABELS}, "probes_total": 0}

    # -- helpers -----------------------------------------------------------------------------
    def _follow(self, a: int, b: int) -> None:
        self.follows[a].add(b)
        self.followers[b].append(a)

    def _push(self, post_idx: int, sharer: int) -> None:
        for f in self.followers[sharer]:
            feed = self.feeds[f]
            feed.append((post_idx, sharer))
            if len(feed) > 8 * self.size:
                del feed[: len(feed) - 4 * self.size]

    def _event(self, kind: str, label: str, agent: int, ep: int, data: dict[str, Any]) -> dict:
        row = {
            "event_type": kind,
            "label": label,
            "source_user": agent_id(agent),
            "episode": ep,
            "event_index": self.event_index,
            "data": data,
        }
        self.event_index += 1
        if kind == "action":
            self.counters["actions_total"] += 1
            self.counters[label] += 1
        else:
            self.counters["probes_total"] += 1
        return row

    def _timeline(self, a: int) -> list[Post]:
        if self.mode == "follower_chronological":
            seen: set[int] = set()
            out: list[Post] = []
            for post_idx, _sharer in reversed(self.feeds[a]):
                post = self.posts[post_idx]
                if post_idx in seen or post.author == a:
                    continue
                seen.add(post_idx)
                out.append(post)
                if len(out) == self.size:
                    break
            return out
        # The recommender filters out what the agent has already seen; the plain feed does not.
        seen = self.seen[a]
        recent = (p for p in self.recent if p.author != a and p.index not in seen)
        return heapq.nlargest(self.size, recent, key=self._rank_score)

    @staticmethod
    def _rank_score(p: Post) -> tuple[float, str]:
        # Engagement times controversy; the post id breaks ties deterministically.
        return ((1 + p.engagement) * (0.3 + abs(p.stance)), p.post_id)

    # -- dynamics ----------------------------------------------------------------------------
    def _post(self, a: int, ep: int) -> dict:
        rng = self.rng
        stance = round(_clip(self.opinions[a] + rng.gauss(0.0, 0.15)), 3)
        topic = rng.choice(self.topics)
        post = Post(len(self.posts), f"p{len(self.posts):06d}", a, ep, topic, stance)
        self.posts.append(post)
        self._push(post.index, a)
        text = f"{rng.choice(_OPENERS)} {topic}: {_STANCE_PHRASES[_level(stance, 5)]}."
        data = {"post_id": post.post_id, "topic": topic, "stance": stance, "text": text}
        return self._event("action", "post", a, ep, data)

    def _read(self, a: int, ep: int, out: list[dict]) -> None:
        rng, o = self.rng, self.opinions[a]
        timeline = self._timeline(a)
        best: tuple[float, int] | None = None
        shift = 0.0
        seen = self.seen[a]
        fresh = 0
        for post in timeline:
            if post.index in seen:
                continue
            seen.add(post.index)
            fresh += 1
            s = post.stance
            agree = 1.0 - abs(o - s) / 2.0
            r = self.reaction_rate * (0.5 + abs(s)) * (1.0 + 0.15 * math.log1p(post.engagement))
            target = {"target_user": agent_id(post.author), "post_id": post.post_id}
            if rng.random() < min(0.95, 1.5 * r * agree):
                post.likes += 1
                out.append(self._event("action", "like", a, ep, dict(target)))
            if rng.random() < min(0.95, 2.0 * r * (1.0 - agree)):
                post.replies += 1
                text = f"Re {post.topic}: {_STANCE_PHRASES[_level(o, 5)]}."
                out.append(self._event("action", "reply", a, ep, {**target, "text": text}))
            if rng.random() < min(0.95, r * agree * abs(s)):
                post.reposts += 1
                self._push(post.index, a)
                out.append(self._event("action", "repost", a, ep, dict(target)))
            d = s - o
            shift += self.influence * d if abs(d) <= self.confidence else -self.backfire * d
            if post.author not in self.follows[a] and (best is None or agree > best[0]):
                best = (agree, post.author)
        if rng.random() < self.follow_rate:
            pick = best[1] if best is not None else None
            if pick is None:
                others = [b for b in range(self.n) if b != a and b not in self.follows[a]]
                pick = rng.choice(others) if others else None
            if pick is not None:
                self._follow(a, pick)
                out.append(self._event("action", "follow", a, ep, {"target_user": agent_id(pick)}))
        if fresh:
            shift /= fresh
        self.opinions[a] = _clip(o + shift + rng.gauss(0.0, self.noise))

    def _answer(self, probe: Mapping[str, Any], o: float) -> str:
        rng, kind = self.prng, probe["probe_type"]
        if kind == "BinaryProbe":
            yes, no = (list(probe.get("options") or ["Yes", "No"]) + ["No"])[:2]
            return str(yes if o + rng.gauss(0.0, 0.25) > 0 else no)
        if kind == "NumericRatingProbe":
            lo, hi = int(probe.get("min_value", 1)), int(probe.get("max_value", 10))
            value = round(lo + (o + 1.0) / 2.0 * (hi - lo) + rng.gauss(0.0, 0.6))
            return str(max(lo, min(hi, value)))
        if kind == "ChoiceProbe":
            options = [str(x) for x in probe["options"]]
            m = len(options)
            # Options are spread from "left" (-1) to "right" (+1) affinity in list order.
            affinity = [(-1.0 + 2.0 * i / (m - 1)) if m > 1 else 0.0 for i in range(m)]
            weights = [math.exp(2.0 * o * x) for x in affinity]
            return rng.choices(options, weights)[0]
        topic = rng.choice(self.topics)
        view = _VIEW_WORDS[_level(o, 5)]
        return f"{rng.choice(_FILLERS)} I {view} the candidate; {topic} matters most."

    def step(self, ep: int) -> Episode:
        """Advance one episode: posting phase, reading/reaction phase, then scheduled probes."""
        order = list(range(self.n))
        self.rng.shuffle(order)
        actions: list[dict] = []
        for a in order:
            if self.rng.random() < self.activity[a]:
                actions.append(self._post(a, ep))
        # Recommender candidates: this and the previous episode's posts (fixed while reading).
        self.recent = [p for p in self.posts[-2 * self.n :] if p.episode >= ep - 1]
        for a in order:
            self._read(a, ep, actions)
        probes: list[dict] = []
        for a in range(self.n):
            o = self.opinions[a]
            for probe in self.probes:
                data = {"probe_return": self._answer(probe, o), "probe_mode": "scheduled"}
                probes.append(self._event("probe", str(probe["probe_name"]), a, ep, data))
        return Episode(ep, actions, probes)

    def episodes(self) -> Iterator[Episode]:
        for ep in range(self.steps):
            yield self.step(ep)


def simulate(cfg: Mapping[str, Any]) -> Result:
    """Run the whole simulation in memory (tests and timing use this)."""
    sim = Simulation(cfg)
    actions: list[dict] = []
    probes: list[dict] = []
    for episode in sim.episodes():
        actions.extend(episode.actions)
        probes.extend(episode.probes)
    return Result(actions, probes, dict(sim.counters), list(sim.opinions))


def interactive_per_agent(counters: Mapping[str, int], num_agents: int) -> float:
    """Mean reply+like+repost count per agent: the engagement statistic tests compare."""
    return sum(counters.get(lab, 0) for lab in INTERACTIVE_LABELS) / max(1, num_agents)
