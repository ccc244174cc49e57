exca --version
python -m exca.demo hydra/launcher=exca_inline features=small
python -m exca.demo hydra/launcher=exca_inline features=small
