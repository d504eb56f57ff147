"""Great Expectations expectations the suites need that GX does not ship: NHS number and UPN validity.

Both check the identifier's check digit with python-stdnum. Importing this module registers them with GX, so a
suite's JSON can name ``expect_column_values_to_be_valid_nhs_number`` and ``expect_column_values_to_be_valid_upn``.
Empty values are not counted (GX leaves nulls out of column map expectations).
"""

from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from stdnum.gb import nhs, upn


class ColumnValuesValidNhsNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_nhs_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.map(nhs.is_valid).astype(bool)


class ExpectColumnValuesToBeValidNhsNumber(ColumnMapExpectation):
    """Expect each NHS number to be ten digits whose last is the modulus 11 check digit of the other nine."""

    map_metric = "column_values.valid_nhs_number"
    success_keys = ("mostly",)


class ColumnValuesValidUpn(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_upn"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.map(upn.is_valid).astype(bool)


class ExpectColumnValuesToBeValidUpn(ColumnMapExpectation):
    """Expect each unique pupil number to be 13 characters with a valid check letter and local authority number."""

    map_metric = "column_values.valid_upn"
    success_keys = ("mostly",)
