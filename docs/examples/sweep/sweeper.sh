python app.py -m hydra/sweeper=exca 'lr=range(1,5)' epochs=10,20
python app.py -m hydra/sweeper=exca 'lr=range(1,5)' epochs=10,20
