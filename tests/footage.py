"""Clips like the ones cameras and phones write, made by the tests with PyAV: H.264 with AC3/MP3/AAC audio,
and ways to damage them (corrupt packet bytes) as real footage is damaged."""

import av
import numpy as np

from vidsynth.streams.synthetic.clip import SyntheticClip

N_FRAMES, FPS, RATE = 45, 30, 48000


def write_clip_with_audio(path, fmt: str, codec: str, n_frames: int = N_FRAMES) -> None:
    """The stamped clip (H.264) with a rising tone in ``codec`` (every packet's bytes differ)."""
    clip = SyntheticClip(n_frames=n_frames, width=64, height=48, fps=FPS)
    frame_size = 1536 if codec in ("ac3", "eac3") else 1152
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height = 64, 48
        audio = container.add_stream(codec, rate=RATE)
        audio.layout = "stereo"
        audio.format = "fltp" if codec != "libmp3lame" else "s16p"
        for frame in clip:
            vframe = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            vframe.pts = frame.pts
            container.mux(video.encode(vframe))
        container.mux(video.encode(None))
        t = np.arange(n_frames * RATE // FPS) / RATE
        tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * t) * t)
        for start in range(0, len(tone), frame_size):
            chunk = tone[start : start + frame_size]
            planes = np.stack([chunk, chunk])
            samples = planes.astype(np.float32) if audio.format.name == "fltp" else (planes * 32767).astype(np.int16)
            aframe = av.AudioFrame.from_ndarray(samples, format=audio.format.name, layout="stereo")
            aframe.sample_rate, aframe.pts = RATE, start
            container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))


def corrupt_audio_packets(path, which) -> int:
    """XOR the payload bytes of the audio packets numbered ``which`` in the file; returns how many."""
    with av.open(str(path)) as container:
        payloads = [bytes(p) for p in container.demux(audio=0) if p.size]
    data = bytearray(path.read_bytes())
    chosen = range(len(payloads)) if which == "all" else which
    for n in chosen:
        at = data.find(payloads[n])
        assert at >= 0 and data.count(payloads[n]) == 1, "a payload must be found once to corrupt it"
        for i in range(at, at + len(payloads[n])):
            data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return len(chosen)


def corrupt_video_packet(path, n: int, keep: int = 8) -> float:
    """XOR the payload of video packet ``n`` (after its first ``keep`` bytes, so the NAL header stays and the
    decoder rejects the slice); returns the packet's time in seconds."""
    with av.open(str(path)) as container:
        packet = [p for p in container.demux(video=0) if p.size][n]
        payload, seconds = bytes(packet), float(packet.pts * packet.time_base)
    data = bytearray(path.read_bytes())
    at = data.find(payload)
    assert at >= 0 and data.count(payload) == 1, "the payload must be found once to corrupt it"
    for i in range(at + keep, at + len(payload)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return seconds
