print('a different script than the one the study names')
