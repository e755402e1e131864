"""The run report: one HTML file a person opens in a browser (no network needed).

``report.collect`` reads a run's objects from S3, ``report.render`` draws the page, ``report.build``
ties them to an execution (``make report`` for a cloud execution, ``python -m offline`` at the end of an
offline run). A development tool: nothing here ships in a Lambda artifact.
"""
