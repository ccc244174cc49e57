python app.py -m lr=0.1,0.01,0.001
python app.py -m lr=0.1,0.01,0.001
python app.py -m lr=0.01,0.001,0.0001
