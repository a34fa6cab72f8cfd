"""Model directories (pulled or imported) and the models loaded in this process."""
