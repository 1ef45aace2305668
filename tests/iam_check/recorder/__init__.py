"""The call recorder (call_recorder.py), loaded into other processes by sitecustomize.py."""
