python app.py --cfg hydra -p hydra.sweeper hydra/sweeper=exca
