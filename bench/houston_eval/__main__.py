"""Command line of the Houston evaluation.

    python -m bench.houston_eval                       # offline, with the scripted model
    python -m bench.houston_eval --base-url http://127.0.0.1:11434/v1 --model llama3.1

The exit status is 0 when the evaluation ran, whatever the scores, and 1 with `--strict` when a case
failed. A wrong option exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from langchain_core.language_models import BaseChatModel

from bench.houston_eval import (
    DEFAULT_TIMEOUT_SECONDS,
    ModelProvider,
    format_report,
    run_evaluation,
    select_cases,
)
from bench.houston_eval.dataset import Category, EvalCase
from bench.houston_eval.scripted import scripted_model
from bot.logs import configure_logging
from houston.agent import build_chat_model

# Local servers such as Ollama and vLLM (started without --api-key) accept any key, but the OpenAI client
# requires one.
LOCAL_PLACEHOLDER_KEY = "no-key-needed"


class EvalConfigError(Exception):
    """An option or environment variable makes the run impossible."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.houston_eval",
        description="Ask Houston the evaluation questions over a seeded in-memory store and score the answers.",
    )
    parser.add_argument(
        "--base-url",
        help="URL of an OpenAI-compatible API, for example http://127.0.0.1:11434/v1; needs --model",
    )
    parser.add_argument(
        "--model",
        dest="model_name",
        help="model name at the endpoint; without it, the offline scripted model is used",
    )
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable that contains the API key (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        choices=[category.value for category in Category],
        help="run the cases of this category only",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds one question may take (default: %(default)s)",
    )
    parser.add_argument("--strict", action="store_true", help="exit with 1 when any case fails")
    parser.add_argument("--show-answers", action="store_true", help="print each answer under its case")
    args = parser.parse_args(argv)

    if args.base_url and not args.model_name:
        parser.error("--base-url needs --model, the model name to use at that endpoint")
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    return args


def model_provider(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ModelProvider, str]:
    """Choose the model: the scripted one, or one chat model at the endpoint shared by all cases."""
    if not args.model_name:
        return scripted_model, "scripted (offline)"
    api_key = environ.get(args.api_key_env, "")
    if not api_key:
        if not args.base_url:
            raise EvalConfigError(
                f"{args.api_key_env} is not set: export the API key, or pass --api-key-env with the variable "
                "that contains it."
            )
        api_key = LOCAL_PLACEHOLDER_KEY
    model = build_chat_model(api_key=api_key, base_url=args.base_url, model_name=args.model_name)

    def shared_model(case: EvalCase) -> BaseChatModel:
        return model

    endpoint = args.base_url or "OpenAI"
    return shared_model, f"{args.model_name} at {endpoint}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="ERROR", fmt="text")
    try:
        provider, label = model_provider(args, os.environ)
    except EvalConfigError as error:
        print(f"bench.houston_eval: {error}", file=sys.stderr)
        return 2
    cases = select_cases(Category(args.only) if args.only else None)
    report = asyncio.run(run_evaluation(cases, provider, model_label=label, timeout_seconds=args.timeout))
    for line in format_report(report, show_answers=args.show_answers):
        print(line)
    return 1 if args.strict and not report.passed else 0


if __name__ == "__main__":
    sys.exit(main())
