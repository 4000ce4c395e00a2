"""Messages: the one owner of message state (rows, status transitions) and the read side.

``status`` is the state machine (which status may follow which), ``repository`` the only writer of
message rows and their transitions (used by the gateway, the inbound status tracker and recovery), and
``query`` reads them back for the API.
"""
