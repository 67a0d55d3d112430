"""Helpers the tests share for video files."""

from vidsynth.streams.video_file import VideoFileSource


def read_video(path, **options) -> list:
    """Every frame of the video file at ``path`` (``options`` go to :class:`VideoFileSource`)."""
    with VideoFileSource(path, **options) as source:
        return list(source)
