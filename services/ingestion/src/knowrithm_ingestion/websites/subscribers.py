"""The jobs of web site sources: CrawlWebsite and PurgeWebsiteSource (jobs.py), run by the
worker's job consumer (worker.py)."""

from __future__ import annotations

import functools

from knowrithm_common.events.ingestion import CrawlWebsite, PurgeWebsiteSource
from knowrithm_common.messaging.jobs import JobHandler
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.websites.jobs import crawl_website, purge_website_source


def jobs(deps: Deps) -> dict[str, JobHandler]:
    """Job type -> handler bound to this process's dependencies."""
    return {
        CrawlWebsite.event_type: functools.partial(crawl_website, deps),
        PurgeWebsiteSource.event_type: functools.partial(purge_website_source, deps),
    }
