# The uv binary alone at /uv, like ghcr.io/astral-sh/uv (context: the directory holding `uv`).
FROM scratch
COPY uv /uv
ENTRYPOINT ["/uv"]
