"""The embedded default data: ray-cast indoor rooms in the NYU layout, and audio-visual events with sound."""
