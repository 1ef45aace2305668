import pytest

from serverless_patterns import settings


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
