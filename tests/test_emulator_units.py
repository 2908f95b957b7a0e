"""Pure pieces of the emulator: encoder vs botocore's decoder, tokenizer, options, engines, latency, quotas."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from evals.cards import load_cards
from evals.emulator import EmulatorOptions, tokenizer
from evals.emulator.engines import Engine, synthetic_text
from evals.emulator.eventstream import encode_frame, event_frame, exception_frame
from evals.emulator.latency import LatencyModel
from evals.emulator.options import QuotaOverrides
from evals.emulator.quotas import MSG_REQUESTS, QuotaBook
from evals.emulator.request_bodies import converse_request
from evals.emulator.wire import BedrockError
from evals.errors import UserInputError
from evals.oracle import decode_expected, encode_expected

CARDS = load_cards()
MAVERICK = CARDS["llama4-maverick"]
LLAMA33 = CARDS["llama3-3-70b"]


def test_frames_decode_with_botocore():
    data = event_frame("contentBlockDelta", {"delta": {"text": "h\u00e9llo"}}) + exception_frame(
        "throttlingException", "slow down")
    messages = list(EventStreamBuffer().__class__())  # empty buffer yields nothing
    assert messages == []
    buf = EventStreamBuffer()
    buf.add_data(data)
    first, second = list(buf)
    assert first.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json",
                             ":message-type": "event"}
    assert first.payload == '{"delta":{"text":"héllo"}}'.encode()
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"


def test_frame_layout_and_crcs():
    frame = encode_frame([("a", "b")], b"xyz")
    total, headers_len, prelude_crc = struct.unpack("!III", frame[:12])
    assert total == len(frame) and headers_len == 1 + 1 + 1 + 2 + 1
    assert prelude_crc == zlib.crc32(frame[:8])
    assert struct.unpack("!I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    corrupt = frame[:-5] + b"!" + frame[-4:]
    buf = EventStreamBuffer()
    buf.add_data(corrupt)
    with pytest.raises(ChecksumMismatch):
        list(buf)


def test_tokenizer_roundtrip_and_rate():
    text = "Scientists announced on Tuesday that the collaboration produced measurable results."
    assert "".join(tokenizer.pieces(text)) == text
    words = len(text.split())
    assert 1.1 <= tokenizer.count(text) / words <= 1.8
    assert tokenizer.count("<|begin_of_text|><|eot|>") == 2
    cut, truncated = tokenizer.truncate(text, 3)
    assert truncated and tokenizer.count(cut) == 3 and text.startswith(cut)
    assert tokenizer.image_tokens(336, 336) == 144
    assert tokenizer.image_tokens(1000, 700) == 144 * (3 * 3 + 1)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 16, 17, 150, 999])
def test_synthetic_text_has_exact_token_count(n):
    assert tokenizer.count(synthetic_text(random.Random(n), n)) == n


def test_synthetic_engine_deterministic_per_seed():
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    req = converse_request(MAVERICK, body)
    a, b = Engine("synthetic", 1).generate(MAVERICK, req), Engine("synthetic", 1).generate(MAVERICK, req)
    c = Engine("synthetic", 2).generate(MAVERICK, req)
    assert a == b and a.text != c.text
    lengths = [Engine("synthetic", s).generate(MAVERICK, req).output_tokens for s in range(60)]
    assert 90 <= sorted(lengths)[30] <= 250  # natural length around ~150 tokens


def test_expected_answer_chunks_in_numeric_order():
    import base64

    enc = base64.b64encode(b"forty-two is the answer").decode()
    parts = [enc[i:i + 3] for i in range(0, len(enc), 3)]
    meta = {f"evals.expected_b64.{i}": p for i, p in reversed(list(enumerate(parts)))}
    assert decode_expected(meta) == "forty-two is the answer"
    assert decode_expected({"other": "x"}) is None


def test_oracle_contract_round_trips_what_the_harness_sends():
    text = "Jäger 42 " * 400  # more than the chunks hold: cut at a character boundary, still decodable
    meta = encode_expected(text)
    assert len(meta) == 14 and all(len(v) <= 256 for v in meta.values())
    decoded = decode_expected(dict(reversed(list(meta.items()))))
    assert decoded is not None and text.startswith(decoded) and len(decoded) > 2000
    assert decode_expected({"evals.expected_b64.0": "not base64!"}) is None


def test_options_from_dict_and_errors():
    opts = EmulatorOptions.from_dict({"latency_profile": "zero", "seed": "5", "faults": {"throttle": 0.5},
                                      "regions": "us-east-1,us-west-2", "quotas": {"tokens_per_day": 10}})
    assert opts.seed == 5 and opts.faults.throttle == 0.5 and opts.regions == ("us-east-1", "us-west-2")
    assert opts.quotas.tokens_per_day == 10.0
    assert EmulatorOptions.from_dict(opts.to_dict()) == opts
    for bad, key in [({"bogus": 1}, "bogus"), ({"latency_profile": "slow"}, "latency_profile"),
                     ({"faults": {"throttle": 2}}, "faults.throttle"), ({"faults": {"nope": 1}}, "nope"),
                     ({"seed": "x"}, "seed"), ({"quota_scale": 0}, "quota_scale")]:
        with pytest.raises(UserInputError, match=key):
            EmulatorOptions.from_dict(bad)
    assert "s3cr3t" not in repr(EmulatorOptions.from_dict({"credentials": {"secret_access_key": "s3cr3t"}}))


def test_latency_plans():
    rng = random.Random(1)
    zero = LatencyModel(EmulatorOptions(latency_profile="zero"))
    assert zero.plan(MAVERICK, "us-east-1", "us-east-1", 100, 0, 10, rng, True).server_total_s == 0
    fixed = LatencyModel(EmulatorOptions(latency_profile="fixed", fixed_latency_ms=200, fixed_ttft_ms=50))
    plan = fixed.plan(MAVERICK, "us-east-1", "us-east-1", 100, 0, 11, rng, True)
    assert plan.first_token_s == pytest.approx(0.05) and plan.server_total_s == pytest.approx(0.2)
    real = LatencyModel(EmulatorOptions(latency_profile="realistic", latency_scale=2.0))
    assert real.network_s("us-west-2") == pytest.approx(0.140)
    near = real.plan(MAVERICK, "us-east-1", "us-east-1", 0, 0, 1, random.Random(3), False)
    far = real.plan(MAVERICK, "us-east-1", "us-west-2", 0, 0, 1, random.Random(3), False)
    assert far.first_token_s - near.first_token_s == pytest.approx(2 * 34 * 2 / 1000)
    big = real.plan(MAVERICK, "us-east-1", "us-east-1", 100_000, 4.0, 1, random.Random(3), False)
    assert big.first_token_s > near.first_token_s + 2 * (1.8 + 0.44) * 0.6


def test_quota_book_buckets():
    book = QuotaBook(1.0, QuotaOverrides(requests_per_minute=2, tokens_per_minute=100, tokens_per_day=1000))
    book.reserve("us-east-1", MAVERICK, 40)
    book.reserve("us-east-1", MAVERICK, 40)
    with pytest.raises(BedrockError) as info:
        book.reserve("us-east-1", MAVERICK, 1)
    assert info.value.message == MSG_REQUESTS and info.value.status == 429
    book.reserve("us-west-2", MAVERICK, 90)  # buckets are per region
    book.reset()
    book.reserve("us-east-1", MAVERICK, 100)
    with pytest.raises(BedrockError, match="Too many tokens"):
        book.reserve("us-east-1", MAVERICK, 1)
    book.release("us-east-1", MAVERICK, 50)
    book.reserve("us-east-1", MAVERICK, 40)


def test_sigv4_matches_botocore_signer():
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from evals.emulator.auth import signature

    path = "/model/us.meta.llama4-maverick-17b-instruct-v1%3A0/converse"
    req = AWSRequest("POST", "http://127.0.0.1:8080" + path, data=b'{"a": 1}',
                     headers={"Content-Type": "application/json", "X-Amzn-Bedrock-Trace": "  a   b "})
    SigV4Auth(Credentials("AKID", "SECRET"), "bedrock", "us-west-2").add_auth(req)
    auth = req.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "127.0.0.1:8080"
    ours = signature("POST", path, headers, signed, b'{"a": 1}', headers["x-amz-date"], "us-west-2", "SECRET")
    assert auth.endswith("Signature=" + ours)
