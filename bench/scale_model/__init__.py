"""A discrete-event model of a fan-out/fan-in job, calibrated on the emulator and run at AWS scale (issue 29).

Usage (helper B's bench/scale.py codes against these names):

    from bench.scale_model import calibration, platforms, pipeline, validation

    measured = calibration.measured_end_to_end(stack, sizes=(1000, 10000))   # {subtasks: seconds}, first: the
                                                      #   stack's functions then start cold, as the model has them
    cal = calibration.measure()                       # on the running emulator (AWS_ENDPOINT_URL set)
    calibration.save(cal, measured)                   # bench/results/scale_calibration.json
    cal, measured = calibration.load()                # reuse a saved run (the model alone)
    rows = validation.validate(cal, measured)         # list[ValidationRow]: subtasks, measured_s,
                                                      #   modelled_s, error_pct, configuration, note
    aws = platforms.aws(cal, account_concurrency=1000)
    prediction = pipeline.simulate(pipeline.JobShape(subtasks=1_000_000), aws)   # -> Prediction

Or from the command line, under scripts/with-emulator.sh with PYTHONPATH=lambdas:ops:tests:. as `make bench` runs:
`python -m bench.scale_model.calibration` (a new sp-bench stack, the end-to-end times and the inputs) or
`... --inputs` (the inputs only, the saved end-to-end times kept).

`Prediction` is bench/scale_model/prediction.py; its `calls` hold every BILLABLE quantity, its notes say what held
the job back (the share of the run each stage did), its layout and its invocations. `JobShape` (job_shape.py) says
what a job is: its size, work per subtask, window, transport, dispatch parts, and how many S3 prefixes its input is
read from (one for a text's chunks, which are byte ranges of one object: 5,500 GETs a second at S3's floor).

Modules: engine.py (the event loop and its resources), aws.py (the quotas, with their sources), job_run.py (a job's
resources, invocations, ventilator and consolidator), workers.py (the mapping's pollers, SNS push, a worker's
batch), platforms.py (the emulator and AWS presets), pipeline.py (simulate, the bounding stage, the billable
calls), calibration.py (measuring on the emulator), validation.py (the model against the measured times).
The model itself needs no package beyond the standard library and the project's own: it imports the tracker's
ShardLayout and Window (serverless_patterns, whose tracker package loads boto3, as .venv has it); calibration.py's
measuring also needs the emulator.
"""
