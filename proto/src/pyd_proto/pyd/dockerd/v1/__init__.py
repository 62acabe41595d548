"""pyd.dockerd.v1: the API between the `pyd` CLI and pyd-dockerd (generated code beside).

The API version pyd-dockerd reports in System.Ping/Version (api_version), and the
oldest it accepts (min_api_version). The CLI speaks the same numbers.
"""

API_VERSION = "1.0"
MIN_API_VERSION = "1.0"
