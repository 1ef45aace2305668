import pytest

from serverless_patterns.shared import settings


def test_a_missing_setting_names_the_variable(monkeypatch):
    monkeypatch.delenv("QUEUE_URL", raising=False)

    with pytest.raises(settings.SettingError, match="QUEUE_URL is not set"):
        settings.required("QUEUE_URL")


@pytest.mark.parametrize(("raw", "message"), [("fast", "is not a number"), ("-1", "must be greater than 0")])
def test_a_bad_number_names_the_variable_and_the_value(monkeypatch, raw, message):
    monkeypatch.setenv("WRITES_PER_SECOND_PER_CONSUMER", raw)

    with pytest.raises(settings.SettingError, match=f"WRITES_PER_SECOND_PER_CONSUMER='{raw}' {message}"):
        settings.positive_number("WRITES_PER_SECOND_PER_CONSUMER", 10)


def test_an_unset_number_takes_its_default(monkeypatch):
    monkeypatch.delenv("SENDER_THREADS", raising=False)

    assert settings.positive_number("SENDER_THREADS", 8) == 8


@pytest.mark.parametrize(
    ("raw", "message"), [("4k", "is not a whole number"), ("2.5", "is not a whole number"), ("-1", "must be 0 or more")]
)
def test_a_bad_count_names_the_variable_and_the_value(monkeypatch, raw, message):
    monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", raw)

    with pytest.raises(settings.SettingError, match=f"INLINE_RESULT_MAX_BYTES='{raw}' {message}"):
        settings.non_negative_int("INLINE_RESULT_MAX_BYTES", 4096)


@pytest.mark.parametrize(("raw", "expected"), [("", 4096), ("0", 0), (" 512 ", 512)])
def test_a_count_may_be_zero_and_unset_takes_its_default(monkeypatch, raw, expected):
    monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", raw)

    assert settings.non_negative_int("INLINE_RESULT_MAX_BYTES", 4096) == expected
