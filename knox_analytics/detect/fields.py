"""Where each Sigma logsource and field lives in knox: data, read by the compiler.

A Sigma rule names a logsource (``product``, ``category``) and fields; knox answers them
from one detection view per category (``knox_analytics/detect/sql/*.sql``, built on the
question views).  Every detection view has the :data:`ALERT_COLUMNS`, so that any rule's
matches become alerts the same way.  A field is a Sigma name from :data:`CATEGORIES`
or, as an escape hatch for knox's own rules, a column of the view itself (``euid``,
``sid``, ``event_name``, ...).  ``docs/detect.md`` prints this table.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The products whose trails are BSM.
PRODUCTS = ("macos", "freebsd")

#: Columns every detection view has (the alert's who, where and evidence).
ALERT_COLUMNS = ("time", "host", "login_user", "effective_user", "pid", "ppid", "instance",
                 "parent_instance", "sid", "image", "command_line", "source", "offset")


@dataclass(frozen=True)
class Category:
    """One Sigma logsource category: its detection view and field → column map."""

    view: str
    fields: dict[str, str]
    #: Sigma fields the category has elsewhere that BSM does not record: field → why.
    missing: dict[str, str]


_PROCESS = {
    "Image": "image",
    "CommandLine": "command_line",
    "ParentImage": "parent_image",
    "ParentCommandLine": "parent_command_line",
    "User": "effective_user",
    "LogonId": "sid",
    "ProcessId": "pid",
    "ParentProcessId": "ppid",
    "OriginalFileName": "signing_id",
    "Signature": "team_id",
}
_FILE = {
    "Image": "image",
    "TargetFilename": "target_filename",
    "SourceFilename": "source_filename",
    "User": "effective_user",
    "ProcessId": "pid",
}

CATEGORIES: dict[str, Category] = {
    "process_creation": Category("detect_process_creation", _PROCESS, {
        "CurrentDirectory": "BSM exec records carry no working directory",
        "IntegrityLevel": "a Windows notion; BSM has none",
        "Hashes": "BSM records no file hashes (only the code-signing cdhash)",
        "Company": "BSM records no version resource",
        "Product": "BSM records no version resource",
        "Description": "BSM records no version resource",
    }),
    "file_event": Category("detect_file_event", _FILE, {
        "CreationUtcTime": "BSM records the time of the call, not file times",
    }),
    "file_access": Category("detect_file_access", {
        **_FILE, "OpenFlags": "open_flags", "Operation": "operation"}, {}),
    "network_connection": Category("detect_network_connection", {
        "Image": "image",
        "User": "effective_user",
        "ProcessId": "pid",
        "DestinationIp": "destination_ip",
        "DestinationPort": "destination_port",
        "SourceIp": "source_ip",
        "SourcePort": "source_port",
        "Initiated": "initiated",
    }, {"Protocol": "BSM socket tokens carry the socket type, not the protocol",
        "DestinationHostname": "BSM records addresses, never host names"}),
    "authentication": Category("detect_authentication", {
        "User": "login_user",
        "TargetUserName": "target_user",
        "SourceIp": "source_ip",
        "Operation": "operation",
        "EventName": "event_name",
        "Text": "text",
    }, {}),
    # knox's own: every record, for what only the audit trail sees (auditon, audit_control)
    "bsm_event": Category("detect_bsm_event", {
        "EventName": "event_name",
        "Image": "image",
        "TargetFilename": "target_filename",
        "User": "effective_user",
        "Text": "text",
    }, {}),
}
