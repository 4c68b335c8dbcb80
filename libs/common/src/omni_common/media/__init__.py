"""Media of messages (images, audio, video, documents, stickers), stored per tenant."""

from omni_common.media.storage import LocalDiskStorage, MediaStorage, StoredMedia, storage_from_url

__all__ = ["LocalDiskStorage", "MediaStorage", "StoredMedia", "storage_from_url"]
