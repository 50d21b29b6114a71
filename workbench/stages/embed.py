"""Stage ``embed``: token or sentence embeddings of a file of texts, or the cosine similarity of two texts."""

from __future__ import annotations

import logging
from typing import Optional

from workbench.artifacts.atomic import write_json
from workbench.artifacts.provenance import provenance
from workbench.config.root import WorkbenchConfig
from workbench.inference.embedding_files import check_output, manifest_path, write_sentence_embeddings, write_token_embeddings
from workbench.inference.embeddings import cosine_similarity, sentence_embeddings, token_embeddings
from workbench.inference.inputs import Text, read_texts
from workbench.inference.model_loading import InferenceError, load_embedder

log = logging.getLogger(__name__)


def embed(cfg: WorkbenchConfig) -> Optional[float]:
    """Writes ``embed.output`` for ``embed.input_file``; prints and returns the cosine for ``embed.similarity``."""
    settings = cfg.embed
    if not settings.input_file and not settings.similarity:
        raise InferenceError(
            'embed needs embed.input_file=<texts.txt> embed.output=<emb.npy|emb.parquet>, or embed.similarity=["text a","text b"]'
        )
    if settings.input_file and not settings.output:
        raise InferenceError("embed.input_file needs embed.output=<file.npy or file.parquet>")
    if settings.output and not settings.input_file:
        raise InferenceError("embed.output needs embed.input_file=<file, one text per line>")
    output = check_output(settings.output) if settings.output else None
    texts = read_texts(settings.input_file, "embed.input_file", InferenceError) if settings.input_file else []
    model = load_embedder(settings.model)
    if output is not None:
        if settings.pooling == "none":
            tokens = token_embeddings(model, texts, settings.layers, settings.layer, settings.batch_size)
            files = write_token_embeddings(output, texts, tokens)
            dim = tokens[0].vectors.shape[1]
        else:
            vectors = sentence_embeddings(model, texts, settings.layers, settings.layer, settings.pooling, settings.batch_size)
            files = write_sentence_embeddings(output, texts, vectors)
            dim = vectors.shape[1]
        write_json(manifest_path(output), provenance(cfg, model=str(model.path), model_source=model.source,
                                                      texts=len(texts), dim=int(dim), files=[f.name for f in files]))
        log.info("embed: %d texts, dimension %d -> %s", len(texts), dim, ", ".join(str(f) for f in files))
    similarity = None
    if settings.similarity:
        pair = [Text(f"similarity-{i}", text, f"embed.similarity[{i}]") for i, text in enumerate(settings.similarity)]
        vectors = sentence_embeddings(model, pair, settings.layers, settings.layer, settings.pooling, settings.batch_size)
        similarity = cosine_similarity(vectors[0], vectors[1])
        print(f"cosine similarity ({settings.pooling} pooling, layers={settings.layer if settings.layer is not None else settings.layers}): {similarity:.6f}")
    return similarity


run = embed
