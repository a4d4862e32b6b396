"""The demo (``fastxai demo`` / ``bash scripts/demo.sh``): synthetic lesion X-rays with planted
problems (``synthetic``) and a bundled real NIH ChestX-ray14 subset (``assets/``), benchmarked by
``fastxai.bench`` and reported by ``fastxai.report`` (``run``)."""
