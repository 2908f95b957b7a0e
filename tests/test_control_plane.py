"""The emulator's `bedrock` control-plane calls through an unmodified boto3 `bedrock` client, against the
service model's shapes, and the preflight checks (`doctor`) built on them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.config import Config
from conftest import LLAMA33, MAVERICK, MAVERICK_BARE, check_shape, client_for

from evals.cards import card_from_mapping, load_card
from evals.emulator import Emulator
from evals.emulator.cli import options_from_argv
from evals.paths import MODEL_CARD_DIR
from evals.run.card_checks import card_refusals
from evals.run.endpoints import LocalEndpoints
from evals.run.preflight import Plan, Unready, run_checks

_BEDROCK = botocore.session.get_session().get_service_model("bedrock")


def control_client(emu: Emulator, region: str, auth: str = "sigv4") -> Any:
    ep = emu.endpoints["regions"][region]
    creds = emu.endpoints["credentials"]
    session = boto3.Session(aws_access_key_id=creds["access_key_id"],
                            aws_secret_access_key=creds["secret_access_key"], region_name=region)
    if auth == "sigv4":
        return session.client("bedrock", endpoint_url=ep["http"], config=Config(signature_version="v4"))
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = creds["api_key"]
    try:
        return session.client("bedrock", endpoint_url=ep["https"], verify=ep["ca_file"],
                              config=Config(signature_version="bearer"))
    finally:
        os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)


def shape_of(operation: str, parsed: dict[str, Any]) -> None:
    """Check against the service model; INFERENCE_PROFILE is what the service returns for a profile-only
    model, though botocore's InferenceType enum lists only ON_DEMAND and PROVISIONED."""
    body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    if "modelDetails" in body:
        details = dict(body["modelDetails"])
        details["inferenceTypesSupported"] = [t for t in details["inferenceTypesSupported"]
                                              if t != "INFERENCE_PROFILE"]
        body["modelDetails"] = details
    check_shape(body, _BEDROCK.operation_model(operation).output_shape)


@pytest.mark.parametrize("auth", ["sigv4", "bearer"])
def test_get_foundation_model_parses_and_follows_the_card(emulator: Emulator, auth: str) -> None:
    client = control_client(emulator, "us-east-1", auth)
    got = client.get_foundation_model(modelIdentifier=MAVERICK_BARE)
    shape_of("GetFoundationModel", got)
    details = got["modelDetails"]
    assert details["modelId"] == MAVERICK_BARE
    assert details["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{MAVERICK_BARE}"
    assert details["responseStreamingSupported"] is False  # the Maverick card: streaming false
    assert details["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]  # no in-region on demand
    assert details["inputModalities"] == ["TEXT", "IMAGE"]
    llama = client.get_foundation_model(modelIdentifier="meta.llama3-3-70b-instruct-v1:0")["modelDetails"]
    assert llama["responseStreamingSupported"] is True


def test_a_region_the_card_does_not_serve_has_no_such_model_or_profile(emulator: Emulator) -> None:
    client = control_client(emulator, "us-west-1")  # llama3-3-70b: neither in-region nor a profile source
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_foundation_model(modelIdentifier="meta.llama3-3-70b-instruct-v1:0")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_inference_profile(inferenceProfileIdentifier=LLAMA33)
    east2 = control_client(emulator, "us-east-2")  # in-region on demand there, per the card
    assert "ON_DEMAND" in east2.get_foundation_model(
        modelIdentifier="meta.llama3-3-70b-instruct-v1:0")["modelDetails"]["inferenceTypesSupported"]


def test_get_inference_profile_routes_like_the_card(emulator: Emulator) -> None:
    client = control_client(emulator, "us-west-1")
    got = client.get_inference_profile(inferenceProfileIdentifier=MAVERICK)
    shape_of("GetInferenceProfile", got)
    routes = [m["modelArn"].split(":")[3] for m in got["models"]]
    assert routes == list(load_card("llama4-maverick").inference_profiles[0].routes["us-west-1"])
    assert got["status"] == "ACTIVE" and got["type"] == "SYSTEM_DEFINED"
    by_arn = client.get_inference_profile(inferenceProfileIdentifier=got["inferenceProfileArn"])
    assert by_arn["inferenceProfileId"] == MAVERICK


def test_list_inference_profiles_pages_through_every_profile_of_the_region(emulator: Emulator) -> None:
    client = control_client(emulator, "us-east-1")
    first = client.list_inference_profiles(maxResults=1)
    shape_of("ListInferenceProfiles", first)
    assert len(first["inferenceProfileSummaries"]) == 1 and "nextToken" in first
    ids = [p["inferenceProfileId"] for page in client.get_paginator("list_inference_profiles").paginate()
           for p in page["inferenceProfileSummaries"]]
    assert sorted(ids) == sorted([LLAMA33, MAVERICK])
    assert client.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []
    west1 = [p["inferenceProfileId"] for p in control_client(emulator, "us-west-1")
             .list_inference_profiles()["inferenceProfileSummaries"]]
    assert west1 == [MAVERICK]


def test_model_availability_parses_and_grants_what_the_card_serves(emulator: Emulator) -> None:
    got = control_client(emulator, "us-east-1").get_foundation_model_availability(modelId=MAVERICK_BARE)
    shape_of("GetFoundationModelAvailability", got)
    assert (got["authorizationStatus"], got["entitlementAvailability"]) == ("AUTHORIZED", "AVAILABLE")
    west1 = control_client(emulator, "us-west-1")
    with pytest.raises(west1.exceptions.ResourceNotFoundException):
        west1.get_foundation_model_availability(modelId="meta.llama3-3-70b-instruct-v1:0")


def test_control_plane_calls_check_credentials(emulator: Emulator) -> None:
    ep = emulator.endpoints["regions"]["us-east-1"]
    bad = boto3.Session(aws_access_key_id="AKIAWRONG", aws_secret_access_key="x", region_name="us-east-1").client(
        "bedrock", endpoint_url=ep["http"], config=Config(signature_version="v4"))
    with pytest.raises(bad.exceptions.ClientError) as err:
        bad.get_foundation_model(modelIdentifier=MAVERICK_BARE)
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"


def _plan(card: str, apis: tuple[str, ...], regions: tuple[str, ...], tiers: tuple[str, ...] = ("default",)) -> Plan:
    return Plan(load_card(card), apis, regions, tiers)


def test_doctor_checks_pass_for_a_plan_the_card_serves(emulator: Emulator) -> None:
    checks = run_checks(_plan("llama3-3-70b", ("converse", "converse_stream"), ("us-east-1", "us-east-2")),
                        LocalEndpoints.from_mapping(emulator.endpoints), "sigv4")
    assert [c.status for c in checks] == ["ok"] * len(checks)
    names = [c.name for c in checks]
    assert names[:4] == ["credentials", "model us-east-1", "access us-east-1", "routing us-east-1"]
    assert "routes to us-east-1, us-east-2, us-west-2" in checks[3].detail


def test_doctor_fails_streaming_on_a_card_whose_service_does_not_stream(emulator: Emulator) -> None:
    checks = run_checks(_plan("llama4-maverick", ("converse_stream",), ("us-east-1",)),
                        LocalEndpoints.from_mapping(emulator.endpoints), "sigv4")
    failed = {c.name: c for c in checks if c.status == "fail"}
    assert set(failed) == {"streaming us-east-1", "plan"}
    assert "responseStreamingSupported is false" in failed["streaming us-east-1"].detail
    assert failed["streaming us-east-1"].fix


def test_doctor_fails_a_region_the_card_does_not_serve(emulator: Emulator) -> None:
    checks = run_checks(_plan("llama3-3-70b", ("converse",), ("us-west-1",)),
                        LocalEndpoints.from_mapping(emulator.endpoints), "bearer")
    assert checks[0].detail.startswith("the emulator's own API key")
    failed = [c for c in checks if c.status == "fail"]
    assert [c.name for c in failed] == ["model us-west-1", "plan"]
    assert "ResourceNotFoundException" in failed[0].detail and "regions=" in failed[0].fix


def test_doctor_says_when_an_emulator_does_not_know_the_card(emulator: Emulator) -> None:
    card = yaml.safe_load((MODEL_CARD_DIR / "llama3-3-70b.yaml").read_text())
    card.update(name="unknown", model_id="example.unknown-v1:0")
    plan = Plan(card_from_mapping(card), ("converse",), ("us-east-2",), ("default",))
    failed = [c for c in run_checks(plan, LocalEndpoints.from_mapping(emulator.endpoints), "sigv4")
              if c.status == "fail"]
    assert [c.name for c in failed] == ["model us-east-2"] and "--card FILE" in failed[0].fix


def test_doctor_finds_the_profile_a_card_is_missing(emulator: Emulator) -> None:
    """A card without its geo profile: the region reaches the model only through one, which ListInferenceProfiles
    names in the fix."""
    card = yaml.safe_load((MODEL_CARD_DIR / "llama3-3-70b.yaml").read_text())
    card.update(name="no-profile", inference_profiles=[])
    plan = Plan(card_from_mapping(card), ("converse",), ("us-east-1",), ("default",))
    checks = {c.name: c for c in run_checks(plan, LocalEndpoints.from_mapping(emulator.endpoints), "sigv4")}
    routing = checks["routing us-east-1"]
    assert routing.status == "fail" and "not served on demand in us-east-1" in routing.detail
    assert routing.fix == (f"add the inference profile {LLAMA33} (routes to us-east-1, us-east-2, us-west-2) "
                           "to the card")


def test_doctor_stops_on_refused_credentials(emulator: Emulator) -> None:
    wrong = {**emulator.endpoints, "credentials": {**emulator.endpoints["credentials"], "secret_access_key": "no"}}
    with pytest.raises(Unready, match="credentials: refused"):
        run_checks(_plan("llama4-maverick", ("converse",), ("us-east-1",)), LocalEndpoints.from_mapping(wrong),
                   "sigv4")


def test_card_refusals_name_the_key_to_change() -> None:
    card = load_card("llama4-maverick")
    assert card_refusals(card, ("converse", "invoke"), ("us-east-1",), ("default",)) == []
    refusals = card_refusals(card, ("converse_stream",), ("eu-west-1",), ("reserved",))
    assert [(r.key, r.value) for r in refusals] == [("apis", "converse_stream"), ("regions", "eu-west-1"),
                                                    ("tiers", "reserved")]
    assert refusals[0].line().startswith("apis: 'converse_stream': model card 'llama4-maverick' does not support")


def test_cards_given_inline_are_served_by_both_planes(tmp_path: Path) -> None:
    card = yaml.safe_load((MODEL_CARD_DIR / "llama3-3-70b.yaml").read_text())
    card.update(name="mine", model_id="example.mine-v1:0", inference_profiles=[], in_region_on_demand=["us-west-1"],
                streaming=False)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(card))
    options = options_from_argv(["--latency-profile", "zero", "--card", str(tmp_path / "mine.yaml")])
    with Emulator(options) as emu:
        details = control_client(emu, "us-west-1").get_foundation_model(
            modelIdentifier="example.mine-v1:0")["modelDetails"]
        assert details["responseStreamingSupported"] is False and details["inferenceTypesSupported"] == ["ON_DEMAND"]
        reply = client_for(emu, "us-west-1").converse(modelId="example.mine-v1:0", messages=[
            {"role": "user", "content": [{"text": "hi"}]}])
        assert reply["usage"]["outputTokens"] > 0
        assert control_client(emu, "us-east-1").get_foundation_model(modelIdentifier=MAVERICK_BARE)  # shipped too
