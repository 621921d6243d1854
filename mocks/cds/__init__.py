"""The mock Catalog Discovery Service (TSD §8.5): catalog cache, discover, fan-out to BPPs.

BPPs publish catalogs (`catalog_publish`); the CDS judges each one (publish.py), caches what it
accepts (cache.py) and answers a BAP's `discover` from that cache (query.py, with RFC 9535
JSONPath filters in jsonpath.py), then fans the discover out to trusted BPPs that publish
nothing and relays their answers (service.py). app.py serves it all with a control API.
"""

from mocks.cds.app import create_app
from mocks.cds.cache import CachedCatalog, CatalogCache
from mocks.cds.publish import DEFAULT_VALIDITY_S, CatalogJudge, Judgement
from mocks.cds.query import DiscoverError, discover_selection, matching_catalog
from mocks.cds.service import DEFAULT_TTL_S, CatalogDiscoveryService, CdsConfig, PendingDiscover

__all__ = ["DEFAULT_TTL_S", "DEFAULT_VALIDITY_S", "CachedCatalog", "CatalogCache",
           "CatalogDiscoveryService", "CatalogJudge", "CdsConfig", "DiscoverError", "Judgement",
           "PendingDiscover", "create_app", "discover_selection", "matching_catalog"]
