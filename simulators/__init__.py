"""Simulated wearables and home sensors. They know only the wire protocol (docs/protocol.md) and its vocabulary
(carewatch.catalog): what they publish goes through exactly the path a real device's messages take.

- Worlds: `floorplans.build_world` (homes, community stations, care institutions), `population.make_population`
  (wearables only), `world.World` (data, `manifest()` for the registry, `merge` for a district).
- Running: `runner.Simulation` (vectorised over residents, deterministic from a seed, real time or faster),
  `reports.Streams` (what is reported how often), `progress.ProgressLine`.
- Incidents and ground truth: `scenarios` (`scenarios.library.plan_incidents`, `make_incident`).
- Publishing: `publisher.Publisher`, `publisher.InlinePublisher`, `pool.PublisherPool`; `capture.Capture` in memory.
- Replay: `replay.replay_csv` (documented CSV), `replay.replay_sisfall` (SisFall trials).
"""
