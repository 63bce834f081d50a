"""Operations: the local process supervisor and the admin commands (`python -m ops`)."""
