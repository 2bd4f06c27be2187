"""A logging filter that keeps the HTTP parser's messages out of the log: they quote the request's bytes (bearer
tokens included). MalformedRequestHandler already answers and logs the parser's refusals without them; this
filter is the net under it, for any record that still carries such an error (aiohttp's own loggers, or an
error that reaches a handler), on every handler of the root logger."""

import logging

from aiohttp.http_exceptions import HttpProcessingError

from server.http.malformed_requests import describe


def parser_error_in(exc_info: object) -> HttpProcessingError | None:
    """The parser error in a record's exception (or in its cause or context), if any."""
    if not isinstance(exc_info, tuple) or len(exc_info) != 3:
        return None
    error = exc_info[1]
    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        if isinstance(error, HttpProcessingError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class RedactParserErrors(logging.Filter):
    """Replaces the traceback of a record whose exception is the parser's with a sentence saying what was wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = parser_error_in(record.exc_info)
        if error is not None:
            record.msg = f"{record.getMessage()} ({describe(error)}; the parser's message is withheld)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


# Loggers whose DEBUG records quote stored values: aiosqlite logs every call with its SQL parameters (customer data,
# webhook secrets, token hashes). They stay at INFO whatever level the root logger is given.
PARAMETER_LOGGERS = ("aiosqlite",)


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put RedactParserErrors on every handler of `logger` (the root logger's: where every record ends up), once.
    On the handlers, not the logger: a logger's filters see only the records logged to it by name. And keep the
    loggers that quote SQL parameters above DEBUG."""
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactParserErrors) for f in handler.filters):
            handler.addFilter(RedactParserErrors())
