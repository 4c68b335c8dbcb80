"""Platform channel code: parsing what Meta sends us (``inbound``)."""
