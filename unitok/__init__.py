"""UniTok toolkit: PyTorch reference modules, ONNX export, checkpoint conversion and demo training.

Run as `/usr/bin/python3 -m unitok <command>`; `python3 -m unitok --help` lists the commands.
"""
