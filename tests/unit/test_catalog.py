"""The catalog explains every asset before its first run: owners, tags, described columns, code
links and described run config, read from the Definitions the UI loads."""

import typing

import dagster as dg
import pytest

from mmrisk_dagster.assets.fusion import PanelConfig, SharedSpaceRunConfig
from mmrisk_dagster.assets.mining import RulesConfig
from mmrisk_dagster.assets.model import EvaluationConfig, MultitaskConfig
from mmrisk_dagster.assets.scoring import AlertConfig
from mmrisk_dagster.definitions import defs
from mmrisk_dagster.ml.panel import POLICIES

SPECS = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
DOCUMENTS = {"shared_space", "multitask_model", "model_evaluation"}  # JSON model cards, not tables


def test_every_asset_has_an_owner_team_and_domain_modality_and_pii_tags():
    for name, spec in SPECS.items():
        assert [o for o in spec.owners if o.startswith("team:")], name
        assert {"domain", "modality", "pii"} <= set(spec.tags), name
        assert spec.description and spec.group_name, name
    assert {n for n, s in SPECS.items() if s.tags["pii"] == "true"} == {"raw_social", "social", "social_rejected", "quarantine"}
    assert SPECS["news_embedding"].tags["modality"] == "news" and SPECS["risk_scores"].tags["modality"] == "multimodal"


def test_every_table_declares_its_columns_with_descriptions_before_any_run():
    for name, spec in SPECS.items():
        schema = spec.metadata.get("dagster/column_schema")
        if name in DOCUMENTS:
            assert schema is None, name
            continue
        assert isinstance(schema, dg.TableSchema) and schema.columns, name
        undescribed = [c.name for c in schema.columns if not c.description]
        assert undescribed == [], (name, undescribed)
    scores = {c.name for c in SPECS["risk_scores"].metadata["dagster/column_schema"].columns}
    assert {"default_probability", "attention_news", "default_logit_prices", "top_default_driver"} <= scores


def test_every_asset_links_to_its_source_code():
    for name, spec in SPECS.items():
        references = spec.metadata["dagster/code_references"].code_references
        assert any(r.file_path.endswith(".py") and "mmrisk_dagster/assets/" in r.file_path for r in references), name


@pytest.mark.parametrize("config", [PanelConfig, SharedSpaceRunConfig, MultitaskConfig, EvaluationConfig, AlertConfig, RulesConfig])
def test_every_run_config_field_is_described(config):
    undescribed = [name for name, field in config.model_fields.items() if not field.description]
    assert undescribed == []


def test_the_missing_modality_policy_is_a_choice_of_the_supported_policies():
    assert set(typing.get_args(PanelConfig.model_fields["missing_policy"].annotation)) == set(POLICIES)
    with pytest.raises(Exception, match="missing_policy"):
        PanelConfig(missing_policy="median")
