"""The Kafka client as pyproject.toml installs it."""

from __future__ import annotations


def test_kafka_python_checksums_record_batches_in_c():
    """kafka-python[crc32c]: without the C CRC every record batch a stage writes or reads is
    checksummed in pure Python, about 45 ms per flush of 200 scored items on this machine
    (docs/scale-out.md, "Measured figures")."""
    from kafka.record import util

    assert util.crc32c_c is not None, "the crc32c package is missing: install kafka-python[crc32c]"
    assert util.calc_crc32c.__defaults__ == (util.crc32c_c,)
