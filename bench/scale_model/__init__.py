"""A discrete-event model of a fan-out/fan-in job, calibrated on the emulator and run at AWS scale (issue 29).

Usage (helper B's bench/scale.py codes against these names):

    from bench.scale_model import calibration, platforms, pipeline, validation

    cal = calibration.measure()                       # on the running emulator (AWS_ENDPOINT_URL set)
    measured = calibration.measured_end_to_end(stack, sizes=(1000, 10000))   # {subtasks: seconds}
    calibration.save(cal, measured)                   # build/bench/scale_calibration.json
    cal, measured = calibration.load()                # reuse a saved run (the model alone)
    rows = validation.validate(cal, measured)         # list[ValidationRow]: subtasks, measured_s,
                                                      #   modelled_s, error_pct, configuration, note
    aws = platforms.aws(cal, account_concurrency=1000)
    prediction = pipeline.simulate(pipeline.JobShape(subtasks=1_000_000), aws)   # -> Prediction

`Prediction` is bench/scale_model/prediction.py; its `calls` hold every BILLABLE quantity.
Everything here is stdlib-only except calibration.py's measuring (boto3, the emulator).
"""
