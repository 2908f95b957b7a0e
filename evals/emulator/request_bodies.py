"""Converse, InvokeModel (prompt and messages styles) and CountTokens bodies read into a `GenRequest`, with the
errors Bedrock gives for each API's shape; the field checks they share are in `evals.emulator.validation`.
"""

from __future__ import annotations

import re
from typing import Any

from evals.cards import ModelCard
from evals.emulator.validation import (
    GenRequest,
    ImageInput,
    chat_prompt,
    check_image,
    check_max_tokens,
    check_metadata,
    check_tier,
    decode_b64,
    finish_request,
    in_range,
    invalid,
    parse_json,
)

_LLAMA_TURN = re.compile(
    r"(?:<\|header_start\|>|<\|start_header_id\|>)(\w+)(?:<\|header_end\|>|<\|end_header_id\|>)\n\n(.*?)"
    r"(?:<\|eot\|>|<\|eot_id\|>|$)",
    re.S,
)


def converse_messages(card: ModelCard, body: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, int]],
                                                                     list[ImageInput]]:
    """Messages and system of a Converse(-shaped) body, images decoded and checked."""
    messages = body.get("messages")
    if messages is None:
        raise invalid("null", path="messages")
    if not isinstance(messages, list):
        raise invalid("bad_json")
    if not messages or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise invalid("first_user")
    system: list[str] = []
    for i, block in enumerate(body.get("system") or []):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise invalid("null", path=f"system.{i + 1}.member.text")
        system.append(block["text"])
    turns: list[tuple[str, str, int]] = []
    images: list[ImageInput] = []
    previous = None
    for mi, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise invalid("null", path=f"messages.{mi + 1}.member.role")
        role = msg["role"]
        if role == previous:
            raise invalid("alternate")
        previous = role
        content = msg.get("content")
        if not isinstance(content, list):
            raise invalid("null", path=f"messages.{mi + 1}.member.content")
        texts: list[str] = []
        n_images = 0
        for block in content:
            if not isinstance(block, dict) or len(block) != 1:
                raise invalid("bad_json")
            kind, value = next(iter(block.items()))
            if kind == "text" and isinstance(value, str):
                texts.append(value)
            elif kind == "image" and isinstance(value, dict):
                if role != "user":
                    raise invalid("image_role")
                data = decode_b64((value.get("source") or {}).get("bytes"), f"messages.{mi + 1}.member.content.image")
                images.append(check_image(card, data, value.get("format"), images))
                n_images += 1
            elif kind in ("toolUse", "toolResult"):
                raise invalid("tools")
            else:
                raise invalid("content_block", block=kind)
        turns.append((role, "\n".join(texts), n_images))
    return system, turns, images


def converse_request(card: ModelCard, body: Any) -> GenRequest:
    """Converse / ConverseStream body -> GenRequest."""
    if not isinstance(body, dict):
        raise invalid("bad_json")
    if body.get("toolConfig"):
        raise invalid("tools")
    system, turns, images = converse_messages(card, body)
    cfg = body.get("inferenceConfig") or {}
    if not isinstance(cfg, dict):
        raise invalid("bad_json")
    stops = cfg.get("stopSequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise invalid("bad_json")
    tier = (body.get("serviceTier") or {}).get("type") if isinstance(body.get("serviceTier"), dict) else None
    perf = body.get("performanceConfig")
    latency = perf.get("latency") if isinstance(perf, dict) else None
    check_tier(card, tier, latency)
    req = GenRequest(
        style="converse",
        turns=turns,
        system=system,
        images=images,
        max_tokens=check_max_tokens(card, cfg.get("maxTokens"), "inferenceConfig.maxTokens", "converse"),
        temperature=in_range(cfg.get("temperature"), "inferenceConfig.temperature", 0, 1, "converse"),
        top_p=in_range(cfg.get("topP"), "inferenceConfig.topP", 0, 1, "converse"),
        stop_sequences=list(stops),
        metadata=check_metadata(body.get("requestMetadata")),
        service_tier=tier,
        performance_latency=latency,
    )
    return finish_request(card, req, chat_prompt(card, system, turns))


def _turns_from_prompt(prompt: str) -> list[tuple[str, str, int]]:
    """Recover the turns of a chat-templated Llama prompt (for echo and oracle); a plain prompt is one turn."""
    turns = [(r, t, t.count("<|image|>")) for r, t in _LLAMA_TURN.findall(prompt) if r != "assistant" or t]
    turns = [(r, t.replace("<|image|>", ""), n) for r, t, n in turns if r != "system"]
    return turns or [("user", prompt, 0)]


_PROMPT_KEYS = {"prompt", "max_gen_len", "temperature", "top_p", "images"}
_MESSAGES_KEYS = {"messages", "max_tokens", "temperature", "top_p", "system", "stop"}


def invoke_request(card: ModelCard, body: bytes, headers: dict[str, str]) -> GenRequest:
    """InvokeModel(-WithResponseStream) Llama body (prompt style or messages style) -> GenRequest."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise invalid("invoke_json", detail=f"#: expected type: JSONObject, found: {type(data).__name__}")
    tier = headers.get("x-amzn-bedrock-service-tier")
    latency = headers.get("x-amzn-bedrock-performanceconfig-latency")
    check_tier(card, tier, latency)
    meta_header = headers.get("x-amzn-bedrock-request-metadata")
    metadata = check_metadata(parse_json(meta_header.encode()) if meta_header else None)
    if "prompt" in data or "messages" not in data:
        return _invoke_prompt(card, data, metadata, tier, latency)
    return _invoke_messages(card, data, metadata, tier, latency)


def _invoke_prompt(card: ModelCard, data: dict[str, Any], metadata: dict[str, str], tier: str | None,
                   latency: str | None) -> GenRequest:
    extra = sorted(set(data) - _PROMPT_KEYS)
    if extra:
        raise invalid("invoke_json", detail=f"#: extraneous key [{extra[0]}] is not permitted")
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        raise invalid("invoke_json", detail="#: required key [prompt] not found")
    images: list[ImageInput] = []
    raw_images = data.get("images") or []
    if not isinstance(raw_images, list):
        raise invalid("invoke_json", detail="#/images: expected type: JSONArray")
    for item in raw_images:
        images.append(check_image(card, decode_b64(item, "images"), None, images))
    turns = _turns_from_prompt(prompt)
    # ASSUMPTION: a prompt without the chat template is templated by Bedrock before tokenization.
    templated = prompt if prompt.startswith("<|begin_of_text|>") else chat_prompt(card, [], [("user", prompt, 0)])
    req = GenRequest(
        style="prompt",
        turns=turns,
        images=images,
        raw_prompt=prompt,
        max_tokens=check_max_tokens(card, data.get("max_gen_len"), "max_gen_len", "invoke"),
        temperature=in_range(data.get("temperature"), "temperature", 0, 1, "invoke"),
        top_p=in_range(data.get("top_p"), "top_p", 0, 1, "invoke"),
        metadata=metadata,
        service_tier=tier,
        performance_latency=latency,
    )
    return finish_request(card, req, templated)


def _invoke_messages(card: ModelCard, data: dict[str, Any], metadata: dict[str, str], tier: str | None,
                     latency: str | None) -> GenRequest:
    extra = sorted(set(data) - _MESSAGES_KEYS)
    if extra:
        raise invalid("invoke_json", detail=f"#: extraneous key [{extra[0]}] is not permitted")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("invoke_json", detail="#/messages: expected a non-empty array")
    system = [data["system"]] if isinstance(data.get("system"), str) else []
    turns: list[tuple[str, str, int]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            raise invalid("invoke_json", detail=f"#/messages/{i}/role: required key [role] not found")
        content = msg.get("content")
        if isinstance(content, list):
            parts = [p.get("text") if isinstance(p, dict) and p.get("type") == "text" else None for p in content]
            texts = [t for t in parts if isinstance(t, str)]
            if len(texts) != len(content):
                raise invalid("invoke_json", detail=f"#/messages/{i}/content: only text parts are supported")
            content = "\n".join(texts)
        if not isinstance(content, str):
            raise invalid("invoke_json", detail=f"#/messages/{i}/content: expected type: String")
        if msg["role"] == "system":
            system.append(content)
        else:
            turns.append((msg["role"], content, 0))
    stops = data.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    req = GenRequest(
        style="messages",
        turns=turns,
        system=system,
        max_tokens=check_max_tokens(card, data.get("max_tokens"), "max_tokens", "invoke"),
        temperature=in_range(data.get("temperature"), "temperature", 0, 1, "invoke"),
        top_p=in_range(data.get("top_p"), "top_p", 0, 1, "invoke"),
        stop_sequences=[s for s in stops if isinstance(s, str) and s],
        metadata=metadata,
        service_tier=tier,
        performance_latency=latency,
    )
    return finish_request(card, req, chat_prompt(card, system, turns))


def count_tokens_request(card: ModelCard, body: Any) -> int:
    """CountTokens body -> input token count (same counting as the generation operations)."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        raise invalid("null", path="input")
    inp = body["input"]
    if len(inp) != 1:
        raise invalid("count_tokens_input")
    if "converse" in inp:
        system, turns, images = converse_messages(card, inp["converse"] or {})
        req = GenRequest(style="converse", turns=turns, system=system, images=images)
        return finish_request(card, req, chat_prompt(card, system, turns)).input_tokens
    if "invokeModel" in inp:
        raw = decode_b64((inp["invokeModel"] or {}).get("body"), "input.invokeModel.body")
        return invoke_request(card, raw, {}).input_tokens
    raise invalid("count_tokens_input")
