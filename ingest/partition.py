"""Scale-out: which sites a worker owns, and the MQTT topic filters that bring it their messages.

Per-resident alert state must live on one worker, so workers split the load by site: with P partitions, site s
belongs to partition crc32(s) mod P (stable across processes and restarts; no coordination needed). Worker k
subscribes to `carewatch/v1/<s>/+/+/#` (and `zigbee2mqtt/<s>/#`: friendly names begin with the site) for each site
s of its partition, through the MQTT 5 shared-subscription group
`<group>-p<k>`: a second worker started for the same partition (a rolling restart, a standby) joins the group and
the broker hands each message to one of them. With one partition every worker takes every site through one shared
group: ingest is shared, but alert state is then split between workers (use it for storage-only workers).
docs/deploy.md explains running this on a clustered broker.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# The carewatch protocol (and FHIR), and Zigbee2MQTT. `#` also takes topics with levels beyond the stream, so that
# they are dead letters (`bad_topic`) rather than never seen; the notifications' `carewatch/v1/notify/<contact>` has
# one level too few to match.
ALL_SITES = ("carewatch/v1/+/+/+/#", "zigbee2mqtt/#")


def partition_of(site_id: str, partitions: int) -> int:
    return zlib.crc32(site_id.encode()) % partitions


def owned_sites(site_ids: Iterable[str], partition: int, partitions: int) -> list[str]:
    return sorted(s for s in site_ids if partition_of(s, partitions) == partition)


def topic_filters(site_ids: Iterable[str], partition: int, partitions: int, share_group: str | None) -> list[str]:
    """The subscriptions of worker `partition` of `partitions`: every site if there is one partition."""
    if partitions == 1:
        filters = list(ALL_SITES)
        group = share_group
    else:  # Zigbee2MQTT friendly names then start with the site: zigbee2mqtt/<site>/<name>
        filters = [
            f for site in owned_sites(site_ids, partition, partitions)
            for f in (f"carewatch/v1/{site}/+/+/#", f"zigbee2mqtt/{site}/#")
        ]  # fmt: skip
        group = f"{share_group or 'carewatch'}-p{partition}"
    return [f"$share/{group}/{f}" for f in filters] if group else filters
