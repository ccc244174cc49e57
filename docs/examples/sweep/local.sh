python app.py -m hydra/launcher=exca_local lr=0.1,0.01,0.001
python app.py -m hydra/launcher=exca_local lr=0.1,0.01,0.001
