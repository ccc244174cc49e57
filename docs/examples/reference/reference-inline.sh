python app.py --cfg hydra -p hydra.launcher hydra/launcher=exca_inline
