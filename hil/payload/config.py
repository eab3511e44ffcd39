"""The placement-study scenario: typed, validated configuration (YAML -> frozen dataclasses).

Every parameter the seed paper (shared/seeds/ntn_edge_content_broadcast.txt, "the paper") gives has
its value as the default; every parameter it omits is a field too, with the choice stated in
docs/payload.md. Bad input raises :class:`hil.errors.ConfigError` naming file, field, value and what
is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.config import load_yaml, parse, spec
from hil.errors import ConfigError

__all__ = ["RegionsConfig", "TnConfig", "CacheConfig", "PopularityConfig", "NtnConfig", "StrategyConfig",
           "PayloadScenario", "load_scenario", "STRATEGIES"]

#: the five approaches of the paper's Table III, in its order
STRATEGIES = ("sa-tn", "tnp", "mbt", "sfa", "gfa")


@dataclass(frozen=True)
class RegionsConfig:
    """Geographical regions: a rows x cols block of equal squares centred on (lat, lon)."""

    lat_deg: float = field(default=36.0, metadata=spec(ge=-80, le=80, unit="deg", doc="block centre latitude"))
    lon_deg: float = field(default=90.0, metadata=spec(ge=-180, le=360, unit="deg", doc="block centre longitude"))
    rows: int = field(default=2, metadata=spec(ge=1, le=20))
    cols: int = field(default=3, metadata=spec(ge=1, le=20))
    area_km2: float = field(default=1200.0, metadata=spec(gt=0, le=1e6, unit="km^2", doc="area of one region"))
    bs_per_region: int = field(default=100, metadata=spec(ge=1, le=5000))


@dataclass(frozen=True)
class TnConfig:
    """Terrestrial network: BS placement, tree topology and hop rates.

    Hop rate ``B log2(1 + snr_ref (d / d_min)^-n)`` with ``snr_ref`` and ``n`` fitted to the paper's two
    end points (``rate_at_min_distance_bps`` at ``min_distance_km``, ``rate_at_radius_bps`` at
    ``radius_km``)."""

    radius_km: float = field(default=2.0, metadata=spec(gt=0, le=100, unit="km", doc="TN delivery radius"))
    min_distance_km: float = field(default=0.5, metadata=spec(gt=0, le=100, unit="km"))
    bandwidth_hz: float = field(default=100e6, metadata=spec(gt=0, le=1e11, unit="Hz"))
    rate_at_min_distance_bps: float = field(default=1e9, metadata=spec(gt=0, unit="bit/s"))
    rate_at_radius_bps: float = field(default=407e6, metadata=spec(gt=0, unit="bit/s"))
    delivery: str = field(default="unicast", metadata=spec(choices=("unicast", "multicast")))
    max_placement_tries: int = field(default=200000, metadata=spec(ge=100, le=10_000_000))

    def validate(self):
        if self.min_distance_km >= self.radius_km:
            raise ConfigError.bad_value("min_distance_km", self.min_distance_km,
                                        f"< radius_km ({self.radius_km} km)")
        if self.rate_at_radius_bps >= self.rate_at_min_distance_bps:
            raise ConfigError.bad_value("rate_at_radius_bps", self.rate_at_radius_bps,
                                        f"< rate_at_min_distance_bps ({self.rate_at_min_distance_bps:g} bit/s)")


@dataclass(frozen=True)
class CacheConfig:
    files_per_bs: int = field(default=50, metadata=spec(ge=1, le=100000, doc="cache size of one BS, files"))
    file_size_mb: float = field(default=20.0, metadata=spec(gt=0, le=1e6, unit="MB (1e6 bytes)"))
    library_files: int = field(default=3000, metadata=spec(ge=1, le=10_000_000, doc="distinct files F"))


@dataclass(frozen=True)
class PopularityConfig:
    """Zipf popularity per region (skewness) and the correlation coefficient between neighbours."""

    skewness: float = field(default=1.0, metadata=spec(ge=0.0, le=5.0))
    correlation: float = field(default=0.6, metadata=spec(ge=0.0, le=1.0))


@dataclass(frozen=True)
class NtnConfig:
    """The NTN segment: constellation, coverage slots (from hil.orbit) and link rates."""

    constellation: str = field(default="starlink-1584", metadata=spec(doc="hil.orbit preset or TLE file"))
    epoch: str = field(default="2026-01-01T00:00:00Z")
    start_s: float = field(default=0.0, metadata=spec(ge=0, le=30 * 86400, unit="s"))
    horizon_s: float = field(default=1800.0, metadata=spec(gt=0, le=86400, unit="s"))
    step_s: float = field(default=1.0, metadata=spec(gt=0, le=60, unit="s"))
    mask_deg: float = field(default=10.0, metadata=spec(ge=0, le=89, unit="deg"))
    beams: int = field(default=7, metadata=spec(ge=1, le=1000))
    beam_diameter_km: float = field(default=20.0, metadata=spec(gt=0, le=5000, unit="km"))
    regions_per_satellite: int = field(default=0, metadata=spec(
        ge=0, le=1000, doc="0: from beams x beam area / region area (at least 1)"))
    rate_at_zenith_bps: float = field(default=300e6, metadata=spec(gt=0, unit="bit/s"))
    rate_at_mask_bps: float = field(default=130e6, metadata=spec(gt=0, unit="bit/s"))
    carrier_hz: float = field(default=20e9, metadata=spec(gt=0, le=1e12, unit="Hz"))

    def validate(self):
        if self.rate_at_mask_bps > self.rate_at_zenith_bps:
            raise ConfigError.bad_value("rate_at_mask_bps", self.rate_at_mask_bps,
                                        f"<= rate_at_zenith_bps ({self.rate_at_zenith_bps:g} bit/s)")
        if self.step_s > self.horizon_s:
            raise ConfigError.bad_value("step_s", self.step_s, f"<= horizon_s ({self.horizon_s} s)")


@dataclass(frozen=True)
class StrategyConfig:
    omega: float = field(default=0.5, metadata=spec(ge=0, le=1, doc="weight of participation vs superiority"))
    participation: str = field(default="links", metadata=spec(choices=("links", "satellites")))
    superiority: str = field(default="per-satellite", metadata=spec(choices=("per-satellite", "per-bs")))
    gfa_weight: str = field(default="eta", metadata=spec(choices=("eta", "saving", "eta-per-second")))
    tnp_ranking: str = field(default="base", metadata=spec(choices=("base", "aggregate")))
    run: list[str] = field(default_factory=lambda: list(STRATEGIES))

    def validate(self):
        for i, s in enumerate(self.run):
            if s not in STRATEGIES:
                raise ConfigError.bad_value(f"run[{i}]", s, "one of " + ", ".join(STRATEGIES))
        if not self.run:
            raise ConfigError.bad_value("run", self.run, "at least one of " + ", ".join(STRATEGIES))


@dataclass(frozen=True)
class PayloadScenario:
    """A placement study: the model, the strategies to compare and the constellation sweep."""

    name: str = "payload"
    description: str = ""
    seed: int = field(default=1, metadata=spec(ge=0))
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    tn: TnConfig = field(default_factory=TnConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    popularity: PopularityConfig = field(default_factory=PopularityConfig)
    ntn: NtnConfig = field(default_factory=NtnConfig)
    strategies: StrategyConfig = field(default_factory=StrategyConfig)
    sweep_constellations: list[str] = field(default_factory=list)


def load_scenario(path) -> PayloadScenario:
    """Read and validate a payload scenario YAML file (a top-level ``payload:`` key is optional)."""
    data = load_yaml(path)
    if isinstance(data, dict) and set(data) == {"payload"}:
        data = data["payload"]
    return parse(PayloadScenario, data, source=str(path))
