"""The engine adapter: the only package that knows both the database and the matching engine.

One module per job:

- :mod:`.rows`: rows read with column selects, filtered by id, and the engine's inputs built
  from them by keyword;
- :mod:`.schools`: the school-level terms (encounters this school year, in-person offers
  with places nearby, sectors seen, blackouts), computed one way for every caller so that
  every run and page gives a school the same figures;
- :mod:`.nightly`: :func:`run_matching`, the nightly match (the ``match`` job and the demo
  call it): compute first, then write only what changed in one short transaction;
- :mod:`.proposals`: the plan of a run and its guarded writes;
- :mod:`.incremental`: :func:`propose_replacements` and :func:`propose_for_new_offer`,
  proposals at once after a cancellation or for a new offer;
- :mod:`.checks`: :func:`pair_allowed`, :func:`alternatives_for`, :func:`allowed_offers`
  and :func:`km_to_school`, for coordinators;
- :mod:`.coldspots`: requests no current offer with places could serve;
- :mod:`.explain`: :func:`explain_request` (why nothing matched, rule by rule) and
  :func:`pair_rules` (the rules that block one pair);
- :mod:`.settings`: the engine's weights from the configuration, checked at start-up.

Services add and flush; the caller (a request or a job) commits.
"""

from broker.services.matching.checks import (
    allowed_offers,
    alternatives_for,
    km_to_school,
    pair_allowed,
)
from broker.services.matching.coldspots import cold_spot_requests
from broker.services.matching.explain import (
    Explanation,
    explain_request,
    explain_requests,
    pair_rules,
)
from broker.services.matching.incremental import propose_for_new_offer, propose_replacements
from broker.services.matching.nightly import Inputs, load_inputs, run_matching
from broker.services.matching.schools import (
    encounters_this_year,
    engine_schools,
    offers_nearby,
)
from broker.services.matching.settings import check_weights, weights

__all__ = [
    "Explanation",
    "Inputs",
    "allowed_offers",
    "alternatives_for",
    "check_weights",
    "cold_spot_requests",
    "encounters_this_year",
    "explain_request",
    "explain_requests",
    "engine_schools",
    "km_to_school",
    "load_inputs",
    "offers_nearby",
    "pair_allowed",
    "pair_rules",
    "propose_for_new_offer",
    "propose_replacements",
    "run_matching",
    "weights",
]
