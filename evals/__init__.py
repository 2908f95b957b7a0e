"""bedrock-evals: evaluation and benchmarking harness for models on Amazon Bedrock."""

__version__ = "0.1.0"
