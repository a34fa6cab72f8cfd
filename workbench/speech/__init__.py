"""The speech stages: decode, recognise, diarize, attribute speakers, finish the text."""
