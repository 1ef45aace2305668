"""The fan-out half of fan-out/fan-in: job specs, sources, planning, subtask messages, workloads, chains."""
