"""ONNX export of the tokenizer and MLLM graphs."""
