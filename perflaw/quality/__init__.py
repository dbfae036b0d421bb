"""Data-quality measures of interaction logs: ApEn (r = 0), ApEn′, D′ and companions."""
