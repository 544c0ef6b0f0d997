"""Fuzzing the decoders and a live core (docs/security.md, Malformed input).

target.py is the one function every engine calls and the rules it checks;
plain.py a seeded mutator (the slice in `make test`); atheris_worker.py one
coverage-guided libFuzzer process; campaign.py `make fuzz`; corpus.py the
inputs kept in tests/fuzz_corpus/.
"""
