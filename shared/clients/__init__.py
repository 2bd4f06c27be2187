"""The sub-clients of OpsClient, one per API family, over one shared transport; and each family's envelope."""

from shared.clients.control import ControlClient
from shared.clients.envelopes import Envelope, Family
from shared.clients.transport import Transport, new_request_id

__all__ = ["ControlClient", "Envelope", "Family", "Transport", "new_request_id"]
